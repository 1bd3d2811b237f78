"""What the engine raises."""


class EngineError(RuntimeError):
    """A piece of the engine could not start, or the engine is not in the state asked for."""


class EngineAlreadyRunning(EngineError):
    """`start` found every piece running."""
