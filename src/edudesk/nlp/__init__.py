"""Chinese text processing with no database and no HTTP: normalisation, tokenising, FAQ retrieval, extraction."""
