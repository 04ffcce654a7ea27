"""Pure video, OCR and caption processing: no Dagster here (callable from tests, the CLI, Dagster or
Modal)."""
