"""Transfer to a person: the account's human number (``/me/transfer``) and how it reaches
the agent worker. The worker side is ``nova.agent.transfer``."""
