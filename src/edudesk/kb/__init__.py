"""The knowledge base (知识库): FAQ entries, similar questions, categories, import/export, unanswered questions."""
