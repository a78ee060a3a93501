"""How the model in assets/ was made: data loading, training and evaluation."""
