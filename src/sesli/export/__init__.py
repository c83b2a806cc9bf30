"""sesli.export: models to the files other runtimes read, through explicit wrapper modules.

* :mod:`sesli.export.piper`: a VITS voice to a Piper voice (``.onnx`` + ``.onnx.json``), spoken by
  the Piper runtime from plain text.
* :mod:`sesli.export.vits_sources`: what a VITS export starts from (a training run or a Piper voice).

Nothing is imported here, so ``import sesli.export`` stays cheap.
"""
