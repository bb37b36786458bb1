"""Models: the cost functions (objectives), the one GradientTape + Adam trainer, the trained
:class:`~cofi.models.model.Model`, fold-in of new users and warm starts."""
