"""RVC-style voice conversion: content features, retrieval index, the converter on the VITS core."""
