"""Search the design space of a spec under a cost budget, with Optuna: the space as data
(`space`), candidates costed by the analytic model (`costing`, `formula`), objectives
(`objective`), persistent studies and workers (`study`), results (`results`, `plot`)."""
