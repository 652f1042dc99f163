"""An example recsys-cl plugin: ``cooccurrence`` (a model) and ``text-pca`` (an embedding learner)."""
