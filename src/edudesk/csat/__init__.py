"""Customer satisfaction (CSAT): the question a visitor is asked after a resolved conversation, on a 2-, 3- or
5-point scale, and the results per agent and skill group. ``service`` holds the settings and the scoring rules,
``reports`` the figures, ``views``/``api`` the admin pages and ``/api/v1/reports/csat``.
"""
