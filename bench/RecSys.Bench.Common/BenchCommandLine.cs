using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace RecSys.Bench.Common;

/// <summary>A malformed, unknown or missing command-line argument; <see cref="BenchCommandLine.Run"/> turns it into exit code 2.</summary>
public sealed class BenchCommandLineException(string message) : Exception(message);

/// <summary>
/// The benches' command-line dialect: <c>--name value</c> (or <c>--name=value</c>) options and <c>--flag</c> switches,
/// each declared once with its help line, plus positional words where a bench declares them. Unknown options, a missing
/// value and a value that does not parse are errors with a clear message and exit code 2; <c>--help</c> prints the usage.
/// </summary>
public sealed class BenchCommandLine
{
    /// <summary>Exit code of a bench run with bad arguments.</summary>
    public const int UsageExitCode = 2;

    private readonly string _usage;
    private readonly List<(string Name, string? ValueName, string Description)> _declared = [];
    private readonly Dictionary<string, bool> _takesValue = new(StringComparer.Ordinal);
    private int _maxPositionals;
    private string? _positionalHelp;

    /// <param name="usage">The first line of the help text, e.g. <c>dotnet run -c Release --project bench/X -- [options]</c>.</param>
    public BenchCommandLine(string usage)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(usage);
        _usage = usage;
    }

    /// <summary>Declares <c>--name value</c>; <paramref name="description"/> should say the default.</summary>
    public BenchCommandLine Option(string name, string valueName, string description) => Declare(name, valueName, description);

    /// <summary>Declares a switch without a value.</summary>
    public BenchCommandLine Flag(string name, string description) => Declare(name, null, description);

    /// <summary>Accepts up to <paramref name="count"/> words that do not start with <c>--</c> (a mode or command).</summary>
    public BenchCommandLine Positionals(int count, string help)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _maxPositionals = count;
        _positionalHelp = help;
        return this;
    }

    public string HelpText
    {
        get
        {
            var text = new StringBuilder().AppendLine("usage: " + _usage);
            if (_positionalHelp is not null)
            {
                text.AppendLine("  " + _positionalHelp);
            }

            var width = _declared.Count == 0 ? 0 : _declared.Max(d => d.Name.Length + (d.ValueName?.Length + 1 ?? 0));
            foreach (var (name, valueName, description) in _declared)
            {
                var left = valueName is null ? name : name + " " + valueName;
                text.Append("  ").Append(left.PadRight(width + 2)).AppendLine(description);
            }

            text.Append("  ").Append("--help".PadRight(width + 2)).AppendLine("this text");
            return text.ToString();
        }
    }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="BenchCommandLineException"/> on bad input.</summary>
    public ParsedArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var positionals = new List<string>();
        var help = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                help = true;
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (positionals.Count >= _maxPositionals)
                {
                    throw new BenchCommandLineException($"Unexpected argument '{arg}'.");
                }

                positionals.Add(arg);
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals > 0 ? arg[..equals] : arg;
            if (!_takesValue.TryGetValue(name, out var takesValue))
            {
                throw new BenchCommandLineException($"Unknown option '{name}'.");
            }

            if (values.ContainsKey(name))
            {
                throw new BenchCommandLineException($"Option '{name}' is given twice.");
            }

            if (!takesValue)
            {
                values[name] = equals > 0 ? throw new BenchCommandLineException($"'{name}' is a switch and takes no value.") : null;
            }
            else if (equals > 0)
            {
                values[name] = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                values[name] = args[++i];
            }
            else
            {
                throw new BenchCommandLineException($"Option '{name}' needs a value.");
            }
        }

        return new ParsedArguments(values, positionals, help, _takesValue);
    }

    /// <summary>
    /// Parses and runs <paramref name="body"/>: prints the help and returns 0 for <c>--help</c>; prints the message and the
    /// hint to stderr and returns <see cref="UsageExitCode"/> when parsing or a typed getter fails.
    /// </summary>
    public int Run(IReadOnlyList<string> args, Func<ParsedArguments, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            var parsed = Parse(args);
            return parsed.HelpRequested ? PrintHelp() : body(parsed);
        }
        catch (BenchCommandLineException e)
        {
            return PrintError(e);
        }
    }

    /// <inheritdoc cref="Run"/>
    public async Task<int> RunAsync(IReadOnlyList<string> args, Func<ParsedArguments, Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            var parsed = Parse(args);
            return parsed.HelpRequested ? PrintHelp() : await body(parsed).ConfigureAwait(false);
        }
        catch (BenchCommandLineException e)
        {
            return PrintError(e);
        }
    }

    /// <summary>
    /// Parses and reads the options with <paramref name="read"/> for a bench that keeps them in top-level variables. False
    /// when the bench should stop with <paramref name="exitCode"/>: 0 after printing the help, <see cref="UsageExitCode"/>
    /// after printing an error.
    /// </summary>
    public bool TryRead<T>(IReadOnlyList<string> args, Func<ParsedArguments, T> read, [NotNullWhen(true)] out T? value, out int exitCode)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        T? result = null;
        exitCode = Run(args, parsed =>
        {
            result = read(parsed);
            return 0;
        });
        value = result;
        return value is not null && exitCode == 0;
    }

    private int PrintHelp()
    {
        Console.Out.Write(HelpText);
        return 0;
    }

    private static int PrintError(BenchCommandLineException e)
    {
        Console.Error.WriteLine($"error: {e.Message} (--help lists the options)");
        return UsageExitCode;
    }

    private BenchCommandLine Declare(string name, string? valueName, string description)
    {
        if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length < 3 || name.Contains('=', StringComparison.Ordinal))
        {
            throw new ArgumentException($"An option name is '--' and a word, without '=': '{name}'.", nameof(name));
        }

        if (name == "--help" || !_takesValue.TryAdd(name, valueName is not null))
        {
            throw new ArgumentException($"Option '{name}' is declared twice.", nameof(name));
        }

        _declared.Add((name, valueName, description));
        return this;
    }
}

/// <summary>The options of one run, read with typed getters that fall back to the caller's default.</summary>
public sealed class ParsedArguments
{
    private readonly Dictionary<string, string?> _values;
    private readonly IReadOnlyDictionary<string, bool> _declared;

    internal ParsedArguments(Dictionary<string, string?> values, IReadOnlyList<string> positionals, bool help, IReadOnlyDictionary<string, bool> declared)
    {
        _values = values;
        Positionals = positionals;
        HelpRequested = help;
        _declared = declared;
    }

    public IReadOnlyList<string> Positionals { get; }

    public bool HelpRequested { get; }

    /// <summary>The positional word at <paramref name="index"/>, or <paramref name="fallback"/>.</summary>
    public string Positional(int index, string fallback) => index < Positionals.Count ? Positionals[index] : fallback;

    /// <summary>True when the switch (or option) was given.</summary>
    public bool Has(string name) => Known(name) && _values.ContainsKey(name);

    public string GetString(string name, string fallback) => Raw(name) ?? fallback;

    public string? GetStringOrNull(string name) => Raw(name);

    public int GetInt(string name, int fallback) => Raw(name) is { } text ? ParseInt(name, text) : fallback;

    public long GetLong(string name, long fallback) =>
        Raw(name) is { } text
            ? long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw Malformed(name, text, "an integer")
            : fallback;

    public double GetDouble(string name, double fallback) =>
        Raw(name) is { } text
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : throw Malformed(name, text, "a number")
            : fallback;

    public float GetFloat(string name, float fallback) => (float)GetDouble(name, fallback);

    /// <summary>A comma-separated list of integers such as <c>1,8,32</c>.</summary>
    public int[] GetIntList(string name, IReadOnlyList<int> fallback) =>
        Raw(name) is { } text ? [.. text.Split(',', StringSplitOptions.TrimEntries).Select(part => ParseInt(name, part))] : [.. fallback];

    /// <summary>A value chosen from <paramref name="allowed"/> (ordinal).</summary>
    public string GetChoice(string name, string fallback, params string[] allowed)
    {
        var value = GetString(name, fallback);
        return allowed.Contains(value, StringComparer.Ordinal)
            ? value
            : throw new BenchCommandLineException($"Option '{name}' is one of {string.Join(", ", allowed)}, not '{value}'.");
    }

    /// <summary>Throws a <see cref="BenchCommandLineException"/> when <paramref name="valid"/> is false (range checks in a bench).</summary>
    public static void Require(bool valid, string message)
    {
        if (!valid)
        {
            throw new BenchCommandLineException(message);
        }
    }

    private string? Raw(string name) => Known(name) && _values.TryGetValue(name, out var value) ? value : null;

    // A getter for an undeclared name is a bug in the bench, not bad input.
    private bool Known(string name) =>
        _declared.ContainsKey(name) ? true : throw new ArgumentException($"Option '{name}' was not declared.", nameof(name));

    private static int ParseInt(string name, string text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw Malformed(name, text, "an integer");

    private static BenchCommandLineException Malformed(string name, string text, string expected) =>
        new($"Option '{name}' needs {expected}, not '{text}'.");
}
