"""sesli: teach speech and sound generation models Turkish.

Layers (imports flow one way): ``audio, text -> data -> modules -> models -> {train, inference}
-> {export, serve, cli}``.
"""

__version__ = "0.1.0"
