namespace RecSys.Candidates;

/// <summary>An item proposed by a candidate source with its normalized score in [0, 1].</summary>
public readonly record struct ScoredItem(string ItemId, double Score);
