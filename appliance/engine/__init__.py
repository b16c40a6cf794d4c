"""Detection engine: rules name what happened, the model scores it, the trace proves it."""
