using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using RecSys.Candidates;

namespace RecSys.Retrieval.Services;

/// <summary>
/// Checks what data annotations on the top level cannot: per-source entries and nested sections. (Whether every registered
/// source is configured is checked by <see cref="CandidateRetriever"/>: the sources themselves depend on these options.)
/// </summary>
internal sealed class RetrievalOptionsValidator : IValidateOptions<RetrievalOptions>
{
    public ValidateOptionsResult Validate(string? name, RetrievalOptions options)
    {
        var failures = new List<string>();
        foreach (var (sourceName, source) in options.Sources)
        {
            if (source is null)
            {
                failures.Add($"Retrieval:Sources:{sourceName} is empty.");
                continue;
            }

            if (source.Budget is < 1 or > 1_000_000)
            {
                failures.Add($"Retrieval:Sources:{sourceName}:Budget must be between 1 and 1000000 (was {source.Budget}).");
            }

            if (!double.IsFinite(source.Weight) || source.Weight is < 0 or > 100)
            {
                failures.Add($"Retrieval:Sources:{sourceName}:Weight must be between 0 and 100 (was {source.Weight}).");
            }

            if (source.TimeoutMs is < 1 or > 60_000)
            {
                failures.Add($"Retrieval:Sources:{sourceName}:TimeoutMs must be between 1 and 60000 (was {source.TimeoutMs}).");
            }
        }

        ValidateSection(options.Fallback, "Retrieval:Fallback", failures);
        ValidateSection(options.RecentSimilar, "Retrieval:RecentSimilar", failures);
        ValidateSection(options.Creator, "Retrieval:Creator", failures);
        ValidateSection(options.Content, "Retrieval:Content", failures);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateSection(object section, string path, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true))
        {
            failures.AddRange(results.Select(r => $"{path}: {r.ErrorMessage}"));
        }
    }
}
