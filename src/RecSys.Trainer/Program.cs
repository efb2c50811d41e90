Console.WriteLine("RecSys trainer");
return 0;
