"""How the model in assets/ was made: data loading, training and evaluation."""

from core.runtimes import quiet_tensorflow

quiet_tensorflow()  # every training tool imports TensorFlow: errors only, unless TF_CPP_MIN_LOG_LEVEL says
