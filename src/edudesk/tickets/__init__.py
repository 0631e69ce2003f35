"""Smart tickets (智能工单): what could not be settled in a live chat, with SLA clocks on business hours."""
