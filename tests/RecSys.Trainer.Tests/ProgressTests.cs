using RecSys.Trainer.Commands;
using Spectre.Console;

namespace RecSys.Trainer.Tests;

public sealed class ProgressTests
{
    [Fact]
    public async Task Interactive_mode_draws_progress_bars_and_the_summary()
    {
        using var dir = new TempDir();
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 160;
        var env = new TrainerEnvironment { Console = console, Interactive = true };

        var code = await TrainerCli.RunAsync(["generate", "--out", dir.Path, "--users", "50", "--items", "200", "--days", "2"], env);

        Assert.Equal(0, code);
        var text = output.ToString();
        Assert.Contains("events", text);
        Assert.Contains("100%", text);
        Assert.Contains("accepted", text);
    }

    [Fact]
    public async Task Plain_mode_writes_one_line_per_phase()
    {
        using var dir = new TempDir();
        var cli = new CliHarness();

        Assert.Equal(0, await cli.RunAsync("generate", "--out", dir.Path, "--users", "50", "--items", "200", "--days", "2"));
        Assert.Contains("[items] done: 200", cli.Output);
        Assert.Contains("[events] done:", cli.Output);
        Assert.DoesNotContain("\u001b[", cli.Output);
    }
}
