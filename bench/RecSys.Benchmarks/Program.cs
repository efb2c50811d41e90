using BenchmarkDotNet.Running;
using RecSys.Benchmarks;

// Every class carries ShortRunConfig, so `-- --filter '*'` runs the whole suite with the short job.
BenchmarkSwitcher.FromAssembly(typeof(ShortRunConfig).Assembly).Run(args);
