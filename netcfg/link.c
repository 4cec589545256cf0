/* link: to be written */
