"""Training, lowest layer first (plain Python down to `runs`, torch from `data` up):

  datasets  what the data are: split sizes, classes, steps per epoch, check_fits(spec, dataset)
  recipe    Recipe (the SGD recipe), its validation, paper_recipe (from assets/published.json), lr_at
  events    StepEvent, EpochEvent, EndEvent, RunStatus, frame() (events -> DataFrame)
  metrics   MetricsStore: step and epoch events as JSON rows, read back as typed events (RunStore's base)
  limits    the server's limits: queue caps, images x epochs per run, run owners and the teacher (Refused)
  runs      RunStore: runs in SQLite (refuses a design that does not fit its data, or a full queue)
  queue     launched runs wait as rows; dispatch starts a worker per free slot; claims, cancel, recover
  cifar     CIFAR-10 and CIFAR-100 files: layouts, published checksums, download, loading
  data      a recipe's data (CIFAR or the synthetic set) on the device, augmentation
  engine    train(spec, recipe) -> events; checkpoints
  capacity  will a run fit this machine's memory (and its cost bound)? refused with the batch that fits
  worker    execute a run in this process; `python -m explorer.training.worker RUN_ID`
  speed     the measured training rate behind the Train page's time estimate
  cli       `python -m explorer.training --preset resnet20 ...`
"""
