/* sysctl: to be written */
