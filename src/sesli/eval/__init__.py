"""Objective evaluation of TTS runs: metrics, the evaluation loop, and JSON/PNG reports."""
