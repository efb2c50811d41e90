using Microsoft.Extensions.Options;

namespace RecSys.Candidates;

/// <summary>The data annotations of <see cref="RetrievalOptions"/> and its nested sections, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class RetrievalOptionsValidator : IValidateOptions<RetrievalOptions>;

/// <summary>The data annotations of one <c>Retrieval:Sources</c> entry, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class CandidateSourceOptionsValidator : IValidateOptions<CandidateSourceOptions>;

/// <summary>
/// Checks every <c>Retrieval:Sources</c> entry: the generator cannot walk a dictionary's values, and a failure should name the
/// source's configuration path. (Whether every registered source is configured is checked by the Retrieval service.)
/// </summary>
public sealed class RetrievalSourcesValidator : IValidateOptions<RetrievalOptions>
{
    private readonly CandidateSourceOptionsValidator _entry = new();

    public ValidateOptionsResult Validate(string? name, RetrievalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.Sources is null)
        {
            failures.Add($"{RetrievalOptions.SectionName}:Sources is empty.");
            return ValidateOptionsResult.Fail(failures);
        }

        foreach (var (sourceName, source) in options.Sources)
        {
            var path = $"{RetrievalOptions.SectionName}:Sources:{sourceName}";
            if (source is null)
            {
                failures.Add($"{path} is empty.");
                continue;
            }

            var result = _entry.Validate(name, source);
            if (result.Failed)
            {
                failures.AddRange(result.Failures.Select(f => $"{path}: {f}"));
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
