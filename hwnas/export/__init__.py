"""Final models: train a found arch standalone, export it (ONNX, TensorRT, ExecuTorch), check parity, time it."""
