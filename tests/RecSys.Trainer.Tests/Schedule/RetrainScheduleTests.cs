using RecSys.Trainer.Commands;
using RecSys.Trainer.Retraining;

namespace RecSys.Trainer.Tests.Schedule;

public sealed class RetrainScheduleTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 10, 17, 0, TimeSpan.Zero);

    [Fact]
    public void Without_a_time_of_day_the_slots_are_counted_from_the_start_and_the_first_is_one_interval_later()
    {
        var schedule = new RetrainSchedule(TimeSpan.FromHours(6));

        Assert.Equal(Start.AddHours(6), schedule.NextSlotAfter(Start, Start));
        Assert.Equal(Start.AddHours(6), schedule.NextSlotAfter(Start.AddHours(5.99), Start));
        // Exactly on a slot: that slot is being served, the next one is strictly later.
        Assert.Equal(Start.AddHours(12), schedule.NextSlotAfter(Start.AddHours(6), Start));
        // Slots missed (the process was busy or asleep) are not caught up.
        Assert.Equal(Start.AddHours(30), schedule.NextSlotAfter(Start.AddHours(25), Start));
    }

    [Theory]
    [InlineData("03:00", 24, "2026-12-03T03:00:00Z")] // later today has passed: tomorrow
    [InlineData("23:30", 24, "2026-12-02T23:30:00Z")] // still ahead today
    [InlineData("03:00", 6, "2026-12-02T15:00:00Z")]  // 03, 09, 15, 21
    [InlineData("10:17", 24, "2026-12-03T10:17:00Z")] // exactly now: the next day
    [InlineData("00:00", 48, "2026-12-04T00:00:00Z")] // whole days from the start's midnight
    public void With_a_time_of_day_the_slots_fall_on_it(string at, int hours, string expected)
    {
        var schedule = new RetrainSchedule(TimeSpan.FromHours(hours), TimeOnly.Parse(at, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), schedule.NextSlotAfter(Start, Start));
    }

    [Fact]
    public void With_a_time_of_day_a_later_slot_does_not_drift()
    {
        var schedule = new RetrainSchedule(TimeSpan.FromDays(1), new TimeOnly(3, 0));

        var tenDaysOn = schedule.NextSlotAfter(Start.AddDays(10), Start);

        Assert.Equal(new DateTimeOffset(2026, 12, 13, 3, 0, 0, TimeSpan.Zero), tenDaysOn);
    }

    [Theory]
    [InlineData(0, 0, 30)]    // under a minute
    [InlineData(400, 0, 0)]   // over a year
    public void An_interval_out_of_range_is_an_argument_error(int days, int hours, int seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetrainSchedule(new TimeSpan(days, hours, 0, seconds)));
    }

    [Fact]
    public void A_time_of_day_needs_an_interval_that_divides_a_day_or_is_whole_days()
    {
        var error = Assert.Throws<ArgumentException>(() => new RetrainSchedule(TimeSpan.FromHours(7), new TimeOnly(3, 0)));
        Assert.Contains("divide a day", error.Message, StringComparison.Ordinal);

        Assert.Equal(TimeSpan.FromHours(7), new RetrainSchedule(TimeSpan.FromHours(7)).Interval);
        Assert.Equal(TimeSpan.FromDays(2), new RetrainSchedule(TimeSpan.FromDays(2), new TimeOnly(3, 0)).Interval);
    }

    [Theory]
    [InlineData("tomorrow", null, "--every: 'tomorrow' is not a TimeSpan")]
    [InlineData("00:00:10", null, "--every: The retraining interval must be between")]
    [InlineData("1.00:00:00", "3am", "--at: '3am' is not a time of day")]
    [InlineData("07:00:00", "03:00", "--every: With a time of day")]
    public void The_command_line_reads_the_schedule_with_clear_errors(string every, string? at, string message)
    {
        var error = Assert.Throws<CliException>(() => RetrainCommand.ReadSchedule(every, at));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_command_line_reads_a_good_schedule()
    {
        var schedule = RetrainCommand.ReadSchedule("06:00:00", "03:30");

        Assert.Equal(TimeSpan.FromHours(6), schedule.Interval);
        Assert.Equal(new TimeOnly(3, 30), schedule.At);
        Assert.Equal("every 06:00:00 from 03:30 UTC", schedule.Describe());
    }
}
