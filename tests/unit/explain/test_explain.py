"""kiln explain: activations match the model's layers, Grad-CAM finds the deciding shape, and
the command writes the pictures it promises (PNGs read back)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from kiln.commands.explain import explain
from kiln.explain.activations import activation_layers, activations, filter_patterns
from kiln.explain.render import channel_grid
from kiln.models.gradcam import grad_cam, last_feature_layer, mass_inside, upsample


def test_activations_have_one_map_per_conv_and_pooling_layer_with_its_shape(keras):
    from kiln.models.vision import mnist_convnet

    model = mnist_convnet((28, 28, 1), 10, filters=(4, 8, 8))
    drawn = activations(model, np.zeros((28, 28, 1), dtype="float32"))
    expected = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.MaxPooling2D)
    ]
    assert [name for name, _ in drawn] == [layer.name for layer in expected]
    assert len(drawn) == 5  # three convolutions, two poolings
    for (_, activation), layer in zip(drawn, expected, strict=True):
        assert activation.shape == tuple(layer.output.shape[1:])
    first = drawn[0][1]  # 26x26x4: one row of four channels with 1-pixel gaps
    assert channel_grid(first).shape == (26, 4 * 27 - 1)


def test_grad_cam_puts_most_of_its_mass_inside_the_box_that_decides_the_class(trained):
    model, images, labels, boxes = trained
    heat = grad_cam(model, images)
    assert heat.layer == last_feature_layer(model).name
    assert np.mean(heat.classes == labels) >= 0.9
    full = upsample(heat.maps, 32, 32)
    inside = np.array([mass_inside(full[i], tuple(boxes[i])) for i in range(len(images))])
    print(
        f"heatmap mass inside the box: median {np.median(inside):.2f}, "
        f"{np.mean(inside > 0.6):.0%} of {len(images)} images above 60%"
    )
    assert np.mean(inside > 0.6) > 0.5
    assert heat.maps.min() >= 0.0 and heat.maps.max() <= 1.0


def test_filter_patterns_are_one_picture_per_filter(trained):
    model = trained[0]
    layer = activation_layers(model)[0]
    patterns = filter_patterns(model, layer.name, 4, steps=5)
    assert patterns.shape == (4, 32, 32, 3) and patterns.dtype == np.uint8
    assert all(pattern.std() > 0 for pattern in patterns)  # gradient ascent moved each one


def test_kiln_explain_writes_heatmaps_activations_and_filters(striped_run, image_files, tmp_path):
    paths, _ = image_files
    model_layers = activation_layers(
        __import__("keras").models.load_model(striped_run / "best.keras")
    )
    out = tmp_path / "pictures"
    args = [*map(str, paths), "--run", str(striped_run), "--activations", "--out", str(out)]
    args += ["--filters", model_layers[0].name, "--filter-count", "4"]
    result = CliRunner().invoke(explain, args)
    assert result.exit_code == 0, result.output
    for path in paths:
        heatmap = Image.open(out / path.stem / "heatmap.png")
        assert heatmap.format == "PNG" and heatmap.size[0] >= 256
        drawn = sorted((out / path.stem / "activations").glob("*.png"))
        assert len(drawn) == len(model_layers)
    assert (out / "filters" / f"{model_layers[0].name}.png").is_file()
    assert f"PNGs under {out}" in result.output


def test_kiln_explain_refuses_an_unknown_layer_and_a_missing_model(striped_run, image_files):
    paths, _ = image_files
    runner = CliRunner()
    unknown = runner.invoke(
        explain, [str(paths[0]), "--run", str(striped_run), "--filters", "nope"]
    )
    assert unknown.exit_code != 0 and "'nope' is not in the model" in unknown.output
    neither = runner.invoke(explain, [str(paths[0])])
    assert neither.exit_code == 2 and "exactly one of --run" in neither.output


def test_a_segmentation_model_gets_one_heatmap_per_class(keras, tmp_path):
    from kiln.explain.run import Request, steps
    from kiln.explain.source import Explained

    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = layers.Conv2D(3, 1, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs)
    picture = tmp_path / "pet.png"
    Image.fromarray(np.full((20, 24, 3), 90, dtype=np.uint8)).save(picture)
    explained = Explained(model, "segmentation", ["pet", "background", "outline"], "test")
    written = [
        path
        for _, draw in steps(explained, Request([picture], tmp_path / "out"))
        for path in draw()
    ]
    assert sorted(path.name for path in written) == [
        "class-background.png",
        "class-outline.png",
        "class-pet.png",
    ]
