"""The Open Inference Protocol v2 (KServe / Triton REST): its types (``types``), request parsing
(``parsing``, binary tensor data extension included), replies (``replies``) and routes
(``routes``)."""
