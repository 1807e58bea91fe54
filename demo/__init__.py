"""The synthetic hospital and PACS for the demo, the tests and the benchmarks.

Not part of the runtime: no package of the gateway imports it (a test holds that), and its own
dependencies (fpdf2 for the PDF documents) are the ``demo`` extra.
"""
