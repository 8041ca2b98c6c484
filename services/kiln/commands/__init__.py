"""One module per `kiln` command. Heavy imports (TensorFlow, Ray) happen inside the commands."""
