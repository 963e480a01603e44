"""Humans in the loop: snapshot review of outputs (``review``), feedback into cases (``feedback``)
and few-shot example sets that grow from both (``examples``). Every verdict, case and example
is a file in the repository that a pull request reviews; the file formats live with the suite
(``suite.reviews``, ``suite.examples``), where the ``human`` validator and templates read them."""
