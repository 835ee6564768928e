"""The router: an NLU reading and the conversation's state to a decision (answer, flow, handoff, clarify…). Pure: no database."""
