using RecSys.Trainer.Commands;

return await TrainerCli.RunAsync(args, new TrainerEnvironment());
