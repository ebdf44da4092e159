"""Search the design space of a spec under a cost budget, with Optuna: the space as data
(`space`), candidates costed by the cost model's block path (`costing`), objectives and
samplers (registries: `objective`, `samplers`, `refine`), the study's storage and workers
(`config`, `storage`, `worker`, `run`), the one ranking (`ranking`), results (`results`,
`plot`), and retraining the best candidates (`retrain`, `mnas validate`)."""
