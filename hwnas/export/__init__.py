"""Final models: train a found arch standalone (:mod:`.final`), export it in a registered format
(:mod:`.formats`: ONNX, ExecuTorch, LiteRT, TensorRT) with that runtime's runner, check parity, time it."""
