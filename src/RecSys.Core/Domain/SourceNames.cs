namespace RecSys.Core.Domain;

/// <summary>Names of the candidate sources, as they appear in responses and configuration.</summary>
public static class SourceNames
{
    public const string Collaborative = "collaborative";
    public const string Content = "content";
    public const string Trending = "trending";
    public const string RecentSimilar = "recent_similar";
    public const string Creator = "creator";

    public static readonly IReadOnlyList<string> All = [Collaborative, Content, Trending, RecentSimilar, Creator];
}
