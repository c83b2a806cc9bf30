"""sesli.data: from raw speech to training batches.

- :mod:`sesli.data.manifest`: ``Utterance`` / ``Reject`` records in JSONL.
- :mod:`sesli.data.sources`: one reader per input format (HF, LJSpeech, Melo, Common Voice, folder).
- :mod:`sesli.data.process`: one clip through decode, checks, clean-up and the text front-end.
- :mod:`sesli.data.prepare`: the resumable, parallel pipeline behind ``sesli prepare``.
- :mod:`sesli.data.dataset`: ``SpeechDataset``, ``collate`` -> ``Batch``.
- :mod:`sesli.data.sampler`: ``DurationBatchSampler`` (batches by seconds, DDP-aware).

Nothing is imported here, so ``import sesli.data.manifest`` stays light (no torch).
"""
