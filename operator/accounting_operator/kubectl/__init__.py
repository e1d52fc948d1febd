"""`kubectl acp`: the cluster admin's commands for an AccountingPlatform.

`cli` parses and dispatches; `session` connects as kubectl does and makes the calls
(through the apply layer's request function and errors); `screen` and `requests` are
pure (the status screen; the annotation or field a command writes); `report` gathers
the support bundle.
"""
