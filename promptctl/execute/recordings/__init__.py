"""Committed recordings of model outputs: the data (``model``), reading (``parse``), writing
(``emit``) and the project's store with lookups and ``--record`` merges (``store``)."""
