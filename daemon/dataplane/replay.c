/* replay: to be written */
