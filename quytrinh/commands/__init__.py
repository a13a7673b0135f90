"""Command groups of the `quytrinh` CLI; each module exposes ``register(app)``."""
