"""A registered test objective (entry point `hpadvisor.objectives: quick`): no training, a
deterministic curve from the parameters, and an optional pause per epoch so that tests can kill
a worker mid-trial. Workers see it when this folder is on PYTHONPATH."""

from __future__ import annotations

import math
import os
import time


def quick(ctx) -> float:
    epochs = int(ctx.config.get("epochs", 3))
    lr = float(ctx.config.get("learning_rate", 0.1))
    quality = max(0.0, 1.0 - abs(math.log10(lr / 0.3)) / 3)
    pause = float(os.environ.get("HPADVISOR_TEST_EPOCH_S", "0"))
    value = 0.0
    for epoch in range(1, epochs + 1):
        time.sleep(pause)
        value = quality * epoch / epochs
        ctx.report(epoch, value, epochs=epochs, train_accuracy=value, train_loss=1 - value,
                   val_loss=1 - value)
    return value
