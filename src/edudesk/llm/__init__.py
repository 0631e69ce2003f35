"""Optional large-model assist (issue 18): endpoint settings, documents, grounded answers, agent assist."""
