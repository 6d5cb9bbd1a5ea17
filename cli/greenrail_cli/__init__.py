"""The ``greenrail`` command line, the local emulator and the demo.

Never shipped to Lambda: the layer (``layers/greenrail``) holds the runtime package only.
``pip install greenrail`` gives ``greenrail validate|scan|carbon``; ``greenrail demo`` needs the
``demo`` extra (moto and aws-sam-translator).
"""
