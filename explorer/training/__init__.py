"""Training, lowest layer first (plain Python down to `runs`, torch from `data` up):

  datasets  what the data are: split sizes, classes, steps per epoch, check_fits(spec, dataset)
  recipe    Recipe (the SGD recipe), its validation, paper_recipe (from assets/published.json), lr_at
  events    StepEvent, EpochEvent, EndEvent, RunStatus, frame() (events -> DataFrame)
  metrics   MetricsStore: step and epoch events as JSON rows, read back as typed events (RunStore's base)
  runs      RunStore: runs in SQLite (refuses a design that does not fit its data)
  queue     claims, queue slots per device, cancel, recover, launch (a worker by module name)
  cifar     CIFAR-10 and CIFAR-100 files: layouts, published checksums, download, loading
  data      a recipe's data (CIFAR or the synthetic set) on the device, augmentation
  engine    train(spec, recipe) -> events; checkpoints
  worker    execute a run in this process; `python -m explorer.training.worker RUN_ID`
  speed     the measured training rate behind the Train page's time estimate
  cli       `python -m explorer.training --preset resnet20 ...`
"""
