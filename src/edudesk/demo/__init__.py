"""The demo institution that ``edudesk demo`` starts with: ``seed`` writes it (staff, courses, knowledge base,
bot scripts, conversations in every state), ``kb`` holds the knowledge base and ``human_service`` the skill
groups, hours, routing rules and SLA policies. Its bot scripts are the flow editor's templates
(``edudesk.bot.flows.templates``)."""
