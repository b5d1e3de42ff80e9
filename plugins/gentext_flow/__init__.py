"""The flow family (normalizing flows for text): in progress. Its coupling layers are built
and tested; the plugin is not registered as an entry point until the model is complete."""
