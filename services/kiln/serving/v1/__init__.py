"""The friendly ``/v1`` API: its types (``types``), the request and answer format of each task
(``formats``, on ``parsing``, ``images`` and ``forecasting``) and its routes (``routes``)."""
