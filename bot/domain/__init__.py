"""The domain: what the village's cases, villages and trainings are and how
they change, callable without a conversation (chat flows, CLIs, a future web
console all call the same operations).

Stands on the ground floor only (content, storage, clock, normalise, messages);
imports nothing from flows, core, app, outbox or channels (tests/test_layers.py).
"""
