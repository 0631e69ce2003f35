"""Assist for agents and editors (issue 18, items 4–6): 服务小结 on resolve, a suggested reply, a KB-entry draft
from missed questions, similar questions for an entry, and the evaluation that gates grounded answers.

Every function here returns "nothing" when the org's endpoint is off, down, slow or over budget (the client's
None): the person keeps working as without a model, and no error reaches them beyond "AI 暂时不可用"."""
